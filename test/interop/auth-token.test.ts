import { describeClientAuth } from './auth-clients.js';

describeClientAuth('token');
